"""The read planner: validated query operations answered with one SQL statement per root field."""
