"""The administrator's and clerks' commands: rules, previews, subscribers, notifications, audit.

`vopi_obvo.cli.build_parser` stays the single entry point; each module here adds its own
subcommands to it and holds their implementations.
"""
