"""The ``tollhouse`` command line.

    tollhouse serve [--config FILE] [--host HOST] [--port PORT] [--data-dir DIR]
    tollhouse keys list|create|show|regenerate|suspend|activate|cancel ...
    tollhouse admin-key [--regenerate]
    tollhouse logs tail|show ...
    tollhouse query [--format table|json|csv] [--file FILE] QUERY
    tollhouse mock-backend [--host HOST] [--port PORT] ...
    tollhouse policy check [--config FILE] [--named-value NAME=VALUE] FILE...
    tollhouse policy trace [--config FILE] [--method M] [--header H] ... URL

Only this module (the process entry point) configures logging handlers.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .config import GatewayConfig, ManagementConfig, embedded_default, load_config
from .errors import ConfigError, TollhouseError
from .policy.commands import add_policy

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = ".tollhouse"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level, getattr(args, "access_log", False))
    try:
        result: int = args.run(args)
    except ConfigError as exc:
        print(f"tollhouse: configuration error: {exc}", file=sys.stderr)
        return 2
    except TollhouseError as exc:
        print(f"tollhouse: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop writing, without a trace.
        _silence_stdout()
        return 1
    return result


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tollhouse",
        description="A self-hosted AI gateway that speaks Azure API Management.",
    )
    parser.add_argument(
        "--version", action="version", version=f"tollhouse {__version__}"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="Process log level (default INFO). Prompts never go to this log.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_keys(commands)
    _add_admin_key(commands)
    _add_logs(commands)
    _add_query(commands)
    _add_mock(commands)
    add_policy(commands)
    return parser


def _common_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="YAML configuration (its data_dir is used)."
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="Data directory holding tollhouse.db and secrets "
        f"(default {DEFAULT_DATA_DIR}).",
    )


# serve --------------------------------------------------------------------


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="Run the gateway.",
        description="Run the gateway. Without --config it runs the embedded default: "
        "SQLite in the data directory, the built-in mock backend behind the "
        "deployment gpt-4o-deployment, and the built-in all-access subscription.",
    )
    _common_store_options(serve)
    serve.add_argument("--host", help="Listen address (default 127.0.0.1).")
    serve.add_argument("--port", type=int, help="Listen port (default 8080).")
    management = serve.add_mutually_exclusive_group()
    management.add_argument(
        "--management-port",
        type=int,
        metavar="PORT",
        help="Run the management API on this port (0: any free one), even if "
        "the configuration leaves it off (default 8081, on loopback).",
    )
    management.add_argument(
        "--no-management",
        action="store_true",
        help="Do not run the management API.",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="Write one process log line per request.",
    )
    serve.set_defaults(run=_run_serve)


def load_gateway_config(args: argparse.Namespace) -> GatewayConfig:
    """The configuration the options name, with command-line overrides applied."""
    if args.config:
        config = load_config(args.config)
        if args.data_dir:
            config = dataclasses.replace(config, data_dir=args.data_dir)
    else:
        config = embedded_default(args.data_dir or DEFAULT_DATA_DIR)
    listener = config.listener
    if getattr(args, "host", None):
        listener = dataclasses.replace(listener, host=args.host)
    if getattr(args, "port", None) is not None:
        listener = dataclasses.replace(listener, port=args.port)
    if not 0 <= listener.port <= 65535:
        raise ConfigError(
            "must be between 0 and 65535", source="command line", path="--port"
        )
    return dataclasses.replace(
        config, listener=listener, management=_management(config, args)
    )


def _management(config: GatewayConfig, args: argparse.Namespace) -> ManagementConfig:
    management = config.management
    if getattr(args, "no_management", False):
        return dataclasses.replace(management, enabled=False)
    port = getattr(args, "management_port", None)
    if port is None:
        return management
    if not 0 <= port <= 65535:
        raise ConfigError(
            "must be between 0 and 65535",
            source="command line",
            path="--management-port",
        )
    return dataclasses.replace(management, enabled=True, port=port)


def _run_serve(args: argparse.Namespace) -> int:
    from .app import Gateway, serve

    config = load_gateway_config(args)
    _run_async(serve(Gateway(config)))
    return 0


def _run_async(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


# keys ---------------------------------------------------------------------


def _add_keys(commands: Any) -> None:
    keys = commands.add_parser("keys", help="Manage subscriptions and their keys.")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="List subscriptions (no keys shown).")
    _common_store_options(listing)
    listing.set_defaults(run=_keys_list)

    create = actions.add_parser(
        "create", help="Create a subscription; prints its keys."
    )
    _common_store_options(create)
    create.add_argument("id", help="Subscription id, e.g. team-a.")
    create.add_argument("--name", help="Display name (default: the id).")
    create.add_argument(
        "--scope",
        default="/apis",
        help="/apis (all APIs, the default), /apis/API-ID or /products/PRODUCT-ID.",
    )
    create.set_defaults(run=_keys_create)

    for name, helptext, run in (
        ("show", "Print one key of a subscription, alone on a line.", _keys_show),
        ("regenerate", "Replace one key; prints the new key.", _keys_regenerate),
    ):
        action = actions.add_parser(name, help=helptext)
        _common_store_options(action)
        action.add_argument("id", help="Subscription id (the built-in one is master).")
        action.add_argument(
            "--secondary",
            action="store_true",
            help="The secondary key, not the primary.",
        )
        action.set_defaults(run=run)

    for name, state in (
        ("suspend", "suspended"),
        ("activate", "active"),
        ("cancel", "cancelled"),
    ):
        action = actions.add_parser(name, help=f"Set a subscription {state}.")
        _common_store_options(action)
        action.add_argument("id", help="Subscription id.")
        action.set_defaults(run=_keys_state, state=state)


def _subscription_store(args: argparse.Namespace) -> Any:
    from .subscriptions import SubscriptionStore

    return SubscriptionStore(*_settings_store(args))


def _settings_store(args: argparse.Namespace) -> tuple[Any, Any]:
    """The settings connection and key secrets of an existing data directory."""
    from .store.sqlite import connect
    from .subscriptions import KeySecrets

    config = load_gateway_config(args)
    data_dir = Path(config.data_dir)
    if not config.database_path.exists() or not (data_dir / "secrets.json").exists():
        # Creating one here would hand out keys no running gateway knows.
        raise TollhouseError(
            f"no Tollhouse data in {data_dir}: start `tollhouse serve` there first, "
            "or point at its data with --data-dir or --config"
        )
    conn = connect(config.database_path)
    return conn, KeySecrets.load_or_create(data_dir)


def _check_scope_target(args: argparse.Namespace, scope: str) -> None:
    config = load_gateway_config(args)
    kind, _, target = scope.strip("/").partition("/")
    known: Mapping[str, object] = config.apis if kind == "apis" else config.products
    if target and target not in known:
        names = ", ".join(sorted(known)) or "none"
        what = "API" if kind == "apis" else "product"
        raise TollhouseError(
            f"scope {scope!r} names no {what} of this gateway (known: {names})"
        )


def _keys_list(args: argparse.Namespace) -> int:
    store = _subscription_store(args)
    rows = [(s.id, s.state, s.scope, s.display_name) for s in store.list()]
    _print_table(("ID", "STATE", "SCOPE", "NAME"), rows)
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    store = _subscription_store(args)
    _check_scope_target(args, args.scope)
    sub = store.create(args.id, args.name or args.id, args.scope)
    print(f"primary:   {store.key(sub.id, 'primary')}")
    print(f"secondary: {store.key(sub.id, 'secondary')}")
    return 0


def _keys_show(args: argparse.Namespace) -> int:
    store = _subscription_store(args)
    print(store.key(args.id, "secondary" if args.secondary else "primary"))
    return 0


def _keys_regenerate(args: argparse.Namespace) -> int:
    store = _subscription_store(args)
    print(store.regenerate(args.id, "secondary" if args.secondary else "primary"))
    return 0


def _keys_state(args: argparse.Namespace) -> int:
    store = _subscription_store(args)
    sub = store.set_state(args.id, args.state)
    print(f"{sub.id}: {sub.state}")
    if sub.id == "master" and sub.state != "active":
        print(
            "tollhouse: note: the built-in all-access subscription is now "
            f"{sub.state}; its keys are refused until `tollhouse keys activate master`",
            file=sys.stderr,
        )
    return 0


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
        )


# admin-key ----------------------------------------------------------------


def _add_admin_key(commands: Any) -> None:
    admin = commands.add_parser(
        "admin-key",
        help="Print the management API's admin key.",
        description="Print the admin key of the management API, alone on a line "
        "(creating it if the data directory has none yet). Clients send it as "
        "'Authorization: Bearer KEY' or in the api-key header.",
    )
    _common_store_options(admin)
    admin.add_argument(
        "--regenerate",
        action="store_true",
        help="Replace the key and print the new one; the old one is refused at "
        "once, also by a running gateway.",
    )
    admin.set_defaults(run=_admin_key)


def _admin_key(args: argparse.Namespace) -> int:
    from .management.keys import AdminKeys

    keys = AdminKeys(*_settings_store(args))
    if args.regenerate:
        print(keys.regenerate())
        return 0
    keys.ensure()
    print(keys.key())
    return 0


# logs ---------------------------------------------------------------------


def _add_logs(commands: Any) -> None:
    logs = commands.add_parser("logs", help="Read the gateway log.")
    actions = logs.add_subparsers(dest="action", required=True, metavar="ACTION")

    tail = actions.add_parser("tail", help="Show recent requests and follow new ones.")
    _common_store_options(tail)
    tail.add_argument("--last", type=int, default=10, help="Requests shown first (10).")
    tail.add_argument(
        "--no-follow", action="store_true", help="Print the recent requests and exit."
    )
    tail.set_defaults(run=_logs_tail)

    show = actions.add_parser(
        "show", help="One request with its prompt and completion reassembled."
    )
    _common_store_options(show)
    show.add_argument(
        "correlation_id",
        metavar="CORRELATION_ID",
        help="The id, or its start or end (logs tail prints the last 8 characters).",
    )
    show.set_defaults(run=_logs_show)


def _log_db(args: argparse.Namespace) -> Path:
    path = load_gateway_config(args).database_path
    if not path.exists():
        raise TollhouseError(f"no log database at {path}; has the gateway run here?")
    return path


def _logs_tail(args: argparse.Namespace) -> int:
    from .logview import tail

    tail(_log_db(args), follow=not args.no_follow, out=sys.stdout, last=args.last)
    return 0


def _logs_show(args: argparse.Namespace) -> int:
    from .logview import show

    found = show(_log_db(args), args.correlation_id, out=sys.stdout)
    if not found:
        print(
            f"tollhouse: no request with correlation id {args.correlation_id}",
            file=sys.stderr,
        )
        return 1
    return 0


# query --------------------------------------------------------------------

_QUERY_HELP = """\
QUERY is KQL over ApiManagementGatewayLogs and ApiManagementGatewayLlmLog
(also ApiManagementGatewayLlmLogs); - reads it from standard input.  It runs
on the store of the configuration: the SQLite file in the data directory, or
PostgreSQL when store.kind is postgres.

Formats: table aligns the columns (dynamic values as compact JSON, cells over
80 characters cut); json prints one object {"columns": [{"name", "type"},
...], "rows": [[...], ...]}, with "render": {"kind", "properties"} when the
query ends in render and "truncated": true when the row cap cut the result;
csv prints a header row, then one record per row, dynamic values as JSON.

Limits come from the configuration's query section: rows beyond
query.max_rows are cut, with a notice on standard error; a query that runs
longer than query.timeout_seconds is stopped.

Exit status: 0 on success; 2 when the query is wrong (the message, with its
line, column and a caret under the spot, goes to standard error), when it
hits the time limit, or when no query is given; 1 when the store cannot be
read.
"""


def _add_query(commands: Any) -> None:
    query = commands.add_parser(
        "query",
        help="Run a KQL query over the gateway log.",
        description="Run a KQL query over the gateway log and the LLM log, and "
        "print the result.",
        epilog=_QUERY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_store_options(query)
    query.add_argument(
        "--format",
        choices=["table", "json", "csv"],
        default="table",
        help="Output format (default table).",
    )
    query.add_argument(
        "--file", metavar="FILE", help="Read the query from FILE (- for stdin)."
    )
    query.add_argument(
        "query",
        nargs="?",
        metavar="QUERY",
        help="The KQL text, or - to read it from standard input.",
    )
    query.set_defaults(run=_query)


def _query(args: argparse.Namespace) -> int:
    from .kql.errors import QueryError
    from .kql.run import run_query
    from .querying import (
        format_csv,
        format_json,
        format_table,
        query_engine,
        query_limits,
        truncation_notice,
    )

    try:
        text = _query_text(args)
    except _QueryUsageError as exc:
        print(f"tollhouse query: error: {exc}", file=sys.stderr)
        return 2
    config = load_gateway_config(args)
    engine = query_engine(config)
    try:
        result = run_query(engine, text, query_limits(config))
    except QueryError as exc:
        print(f"tollhouse: {exc}", file=sys.stderr)
        if exc.expected and "expected" not in exc.message:
            print(f"expected: {_expected_text(exc.expected)}", file=sys.stderr)
        return 2
    finally:
        engine.close()

    if args.format == "json":
        output = format_json(result).decode() + "\n"
    elif args.format == "csv":
        output = format_csv(result)
    else:
        output = format_table(result)
    _write_stdout(output)
    if result.truncated:
        print(f"tollhouse: note: {truncation_notice(result)}", file=sys.stderr)
    return 0


class _QueryUsageError(Exception):
    """The query command was called wrongly (no query, or two): exit 2."""


def _expected_text(expected: list[str], limit: int = 20) -> str:
    """What a query error says would fit, the first ``limit`` of it."""
    shown = ", ".join(expected[:limit])
    more = len(expected) - limit
    return f"{shown}, and {more} more" if more > 0 else shown


def _query_text(args: argparse.Namespace) -> str:
    if args.query is not None and args.file is not None:
        raise _QueryUsageError("give the query as QUERY or with --file, not both")
    source = args.file if args.file is not None else args.query
    if source is None:
        raise _QueryUsageError(
            "no query given: pass QUERY, - for standard input, or --file FILE"
        )
    if source == "-":
        text = sys.stdin.read()
    elif args.file is None:
        text = source
    else:
        text = _read_query_file(source)
    if not text.strip():
        raise _QueryUsageError("the query is empty")
    return text


def _read_query_file(name: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise TollhouseError(
            f"cannot read the query from {name}: {exc.strerror or exc}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise TollhouseError(f"cannot read the query from {name}: {exc}") from exc


def _write_stdout(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`head`, a pager) has gone; say nothing more to it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# mock-backend -------------------------------------------------------------


def _add_mock(commands: Any) -> None:
    mock = commands.add_parser(
        "mock-backend",
        help="Run the built-in mock OpenAI / Azure OpenAI backend.",
        description="Run the built-in mock backend: Azure OpenAI and OpenAI "
        "routes for chat completions, completions, responses, embeddings, images "
        "and audio, echoing the last user message with realistic usage. Fault "
        "modes are chosen per request with the x-mock-* headers below.",
        epilog=_mock_headers_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mock.add_argument("--host", default="127.0.0.1", help="Listen address (127.0.0.1).")
    mock.add_argument("--port", type=int, default=8000, help="Listen port (8000).")
    mock.add_argument(
        "--latency-ms", type=float, default=0.0, help="Delay before answering."
    )
    mock.add_argument(
        "--chunk-delay-ms",
        type=float,
        default=0.0,
        help="Delay between streamed events.",
    )
    mock.add_argument(
        "--chunk-chars", type=int, default=8, help="Characters per streamed delta (8)."
    )
    mock.set_defaults(run=_run_mock)


def _mock_headers_help() -> str:
    from . import mock_backend

    doc = mock_backend.__doc__ or ""
    start = doc.find("Request headers that steer one request")
    end = doc.find("Response headers on every answer")
    return doc[start:end].replace("``", "").rstrip() if start >= 0 else ""


def _run_mock(args: argparse.Namespace) -> int:
    from .mock_backend import MockSettings, run_mock

    settings = MockSettings(
        latency_ms=args.latency_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        chunk_chars=args.chunk_chars,
    )
    run_mock(args.host, args.port, settings)
    return 0


# logging ------------------------------------------------------------------


def _configure_logging(level: str, access_log: bool) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("tollhouse.access").setLevel(
        logging.INFO if access_log else logging.WARNING
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
