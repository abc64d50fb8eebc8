"""Tests of matscreen.physics."""
