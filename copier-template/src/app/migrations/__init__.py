"""Data migrations, applied in order by `vibetuner db migrate` (`db create NAME` adds one)."""
