"""Vernost: patient loyalty audit for medical clinics."""
