"""Constants shared by the API tests."""

TOKEN = "test-token-0123456789abcdef"
