"""Write the ride socket's AsyncAPI document, as ``spectacular --file`` writes the OpenAPI one."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from sessions_rt.asyncapi import asyncapi_document, asyncapi_json, asyncapi_problems


class Command(BaseCommand):
    help = (
        "Generate the AsyncAPI 3.0 document of the ride socket from the registry of messages "
        "(the one served at /api/asyncapi/) and write it as JSON to --file, or to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", help="where to write it (default: stdout)")
        parser.add_argument(
            "--host", default="localhost:8000", help="the server's host[:port] in the document"
        )
        parser.add_argument("--secure", action="store_true", help="wss rather than ws")
        parser.add_argument(
            "--validate",
            action="store_true",
            help="fail unless it is valid against the official AsyncAPI 3.0.0 JSON Schema",
        )

    def handle(self, *args, **options):
        document = asyncapi_document(host=options["host"], secure=options["secure"])
        if options["validate"]:
            problems = asyncapi_problems(document)
            if problems:
                raise CommandError(
                    "The AsyncAPI document is not valid AsyncAPI 3.0.0:\n" + "\n".join(problems)
                )
        if options["file"]:
            Path(options["file"]).write_text(asyncapi_json(document))
        else:
            self.stdout.write(asyncapi_json(document), ending="")
