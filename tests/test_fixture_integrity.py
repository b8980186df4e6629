import hashlib


def test_fixture_matches_reference_checksums(crops, reference):
    a, b = crops
    assert hashlib.sha256(a.tobytes()).hexdigest() == reference["sha256_a"]
    assert hashlib.sha256(b.tobytes()).hexdigest() == reference["sha256_b"]
