"""Constants shared by the letter tests."""

TEST_LOOKUP_KEY = "test-lookup-key-0123456789abcdefghijklmnop"  # as tests/conftest.py
OTHER_UNIT = "Kultur- og Fritidsforvaltningen"
