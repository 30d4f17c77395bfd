"""What patients see: no login, mobile first."""
