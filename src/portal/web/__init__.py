"""HTTP layer: parses requests, calls one service, renders templates."""
