"""Measuring tools shared by training, monitoring and the registry."""
