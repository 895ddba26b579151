"""Admin services: roster, enrolment, teams, privacy, and the read models behind reports."""
