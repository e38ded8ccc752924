"""One module per backend. Only ``support_core.wiring`` picks among them."""
