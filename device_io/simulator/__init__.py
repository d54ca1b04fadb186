"""A simulated Ameba module implementing the PV firmware contract on a pty."""
