"""The operators' console: clinics, licences, usage, audit."""
