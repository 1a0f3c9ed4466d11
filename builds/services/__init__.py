"""Every write of the builds app: recipes, the build lifecycle, the runner the task calls."""
