"""Persistence for harbor-bot: SQLModel tables, engine, repositories, migrations, PTB persistence."""
