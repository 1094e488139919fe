"""The contacts and orders read models behind the list endpoints."""
