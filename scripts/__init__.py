"""One-off maintenance scripts (data cleaning, packaging); importable for their tests."""
