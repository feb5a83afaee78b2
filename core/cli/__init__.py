"""CLI commands; each module offers add_arguments(parser, command) and main(args) -> int."""
