"""One module per ``notes-platform`` subcommand.

Each module has ``add_arguments(parser)`` and ``run(args) -> int``; its one-line help is in
``notes_platform.cli.COMMANDS``. Module level stays light (argparse and the standard library): heavy
imports (pulumi, pydantic, botocore) happen inside ``run``, so ``--help`` answers at once.
"""
