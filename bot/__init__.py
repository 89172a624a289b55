"""fallkonferenz-bot: runs inter-agency case conferences in an encrypted Matrix room."""

__version__ = "0.1.0"
