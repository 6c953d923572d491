"""Reelbot's Discord side. Importing it never loads torch or diffusers."""
