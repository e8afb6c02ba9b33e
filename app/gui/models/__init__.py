"""Qt item models: thin adapters over plain rows; they never touch the database."""
