"""Fault-injection suite (``deploy/bin/faults``): each test breaks one private process."""
