"""The `allspark` Processing provider: one algorithm per file."""
