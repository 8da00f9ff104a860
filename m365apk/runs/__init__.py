"""The runs the IT provider operates: one scan end to end, scan-all, the tenants file, history,
the portfolio overview, setup and doctor. Sits on top of collection, checks and reports."""
