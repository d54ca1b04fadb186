"""Station side of the module link: serial ports, PV protocol, simulator."""
