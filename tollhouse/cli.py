"""The ``tollhouse`` command line.

    tollhouse serve [--config FILE] [--host HOST] [--port PORT] [--data-dir DIR]
    tollhouse keys list|create|show|regenerate|suspend|activate|cancel ...
    tollhouse logs tail|show ...
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
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import GatewayConfig, embedded_default, load_config
from .errors import ConfigError, TollhouseError

if TYPE_CHECKING:
    from .policy.loader import PolicyLoader
    from .policy.xml import NamedValues

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
    return result


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
    _add_logs(commands)
    _add_mock(commands)
    _add_policy(commands)
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
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="Write one process log line per request.",
    )
    serve.set_defaults(run=_run_serve)


def load_gateway_config(args: argparse.Namespace) -> GatewayConfig:
    """The configuration the options name, with command-line overrides applied."""
    config = (
        load_config(args.config) if args.config else embedded_default(DEFAULT_DATA_DIR)
    )
    if args.data_dir:
        config = dataclasses.replace(config, data_dir=args.data_dir)
    listener = config.listener
    if getattr(args, "host", None):
        listener = dataclasses.replace(listener, host=args.host)
    if getattr(args, "port", None) is not None:
        listener = dataclasses.replace(listener, port=args.port)
    if not 0 <= listener.port <= 65535:
        raise ConfigError(
            "must be between 0 and 65535", source="command line", path="--port"
        )
    return dataclasses.replace(config, listener=listener)


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
    from .store.sqlite import connect
    from .subscriptions import KeySecrets, SubscriptionStore

    config = load_gateway_config(args)
    data_dir = Path(config.data_dir)
    if not config.database_path.exists() or not (data_dir / "secrets.json").exists():
        # Creating one here would hand out keys no running gateway knows.
        raise TollhouseError(
            f"no Tollhouse data in {data_dir}: start `tollhouse serve` there first, "
            "or point at its data with --data-dir or --config"
        )
    conn = connect(config.database_path)
    store = SubscriptionStore(conn, KeySecrets.load_or_create(data_dir))
    return store


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


# policy -------------------------------------------------------------------

_NAMED_VALUES_HELP = """\
Named values: with --config or --named-value, every {{name}} must be defined;
it is substituted before the value is checked, and a secret's value is never
printed (its {{name}} is shown instead).  Without either option, {{name}}
references are left as written and the values holding them are not checked.

Each error is printed on a line of its own as FILE:LINE:COLUMN: message.  The
exit status is 0 when every file is valid, 1 otherwise.
"""


def _add_policy(commands: Any) -> None:
    policy = commands.add_parser("policy", help="Work with APIM policy documents.")
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")

    check = actions.add_parser(
        "check",
        help="Check policy documents and fragments.",
        description="Check APIM policy documents (<policies>) and policy\n"
        "fragments (<fragment>) the way the gateway loads them; report every error.",
        epilog=_NAMED_VALUES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="Files to check.")
    check.add_argument(
        "--config",
        metavar="FILE",
        help="Gateway configuration whose named values, backends and policy "
        "fragments directory are used.",
    )
    check.add_argument(
        "--named-value",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A named value (repeatable; overrides the configuration's).",
    )
    check.add_argument(
        "--fragments",
        metavar="DIR",
        help="Directory of policy fragments, NAME.xml for fragment-id NAME "
        "(overrides the configuration's).",
    )
    check.set_defaults(run=_policy_check)
    _add_policy_trace(actions)


def _policy_check(args: argparse.Namespace) -> int:
    loader = _policy_loader(args)
    failed = 0
    for name in args.files:
        errors: Sequence[ConfigError]
        try:
            errors = loader.check(name)
        except ConfigError as exc:  # the file cannot be read
            errors = [exc]
        for error in errors:
            print(error)
        if errors:
            failed += 1
        else:
            print(f"{name}: ok")
    if failed:
        print(
            f"tollhouse: {failed} of {len(args.files)} policy files have errors",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _policy_loader(args: argparse.Namespace) -> PolicyLoader:
    from .policy.loader import PolicyLoader, fragments_in, named_values_from_config

    named: NamedValues | None = None
    backends: set[str] | None = None
    fragments: Mapping[str, Path] = {}
    if args.config:
        config = load_config(args.config)
        named = named_values_from_config(config, os.environ)
        backends = set(config.backends)
        if config.policy_fragments_dir:
            here = Path(args.config).parent
            fragments = fragments_in(here / config.policy_fragments_dir)
    if args.named_value:
        named = _add_named_values(named, args.named_value)
    if args.fragments:
        if not Path(args.fragments).is_dir():
            raise ConfigError(
                f"{args.fragments!r} is not a directory",
                source="command line",
                path="--fragments",
            )
        fragments = fragments_in(args.fragments)
    return PolicyLoader(named_values=named, fragments=fragments, backends=backends)


def _add_named_values(named: NamedValues | None, items: list[str]) -> NamedValues:
    from .policy.xml import NamedValues

    base = named or NamedValues()
    values = dict(base.values)
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise ConfigError(
                f"expected NAME=VALUE, got {item!r}",
                source="command line",
                path="--named-value",
            )
        values[name] = value
    return NamedValues(values, base.secrets)


_TRACE_HELP = """\
The backend is not called unless --call-backend is given: forward-request
answers with --backend-status and --backend-body (by default 200 and a small
chat completion).  Nothing is written to the log.  Only the policies run:
the gateway's own checks (subscription key, deployment, request body) do
not, and context.Subscription is null unless --subscription names one.

Each line of the trace is a policy that ran: its section, the scope of the
document it is in and its path there (scope:path, such as
api:inbound/ip-filter[1]), and its outcome (next, return, taken for a choose
branch, failed: REASON).  The exit status is 0 whatever the response; it
is 2 when the trace cannot run (a bad option or configuration).
"""


def _add_policy_trace(actions: Any) -> None:
    trace = actions.add_parser(
        "trace",
        help="Run a sample request through an operation's policies.",
        description="Run a sample request through the effective policy of the "
        "operation its URL matches, and print each step and the response.",
        epilog=_TRACE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trace.add_argument(
        "url",
        metavar="URL",
        help="Gateway URL or path, such as /openai/deployments/gpt-4o-deployment/"
        "chat/completions?api-version=2024-10-21.",
    )
    trace.add_argument("--config", metavar="FILE", help="Gateway configuration.")
    trace.add_argument("--method", default="POST", help="HTTP method (POST).")
    trace.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="A request header (repeatable).",
    )
    body = trace.add_mutually_exclusive_group()
    body.add_argument("--body", help="Request body text.")
    body.add_argument("--body-file", metavar="FILE", help="Request body from a file.")
    trace.add_argument(
        "--caller-ip", default="127.0.0.1", help="The caller's address (127.0.0.1)."
    )
    trace.add_argument("--subscription", metavar="ID", help="Calling subscription.")
    trace.add_argument("--product", metavar="ID", help="Its product, if any.")
    trace.add_argument(
        "--call-backend", action="store_true", help="Really call the backend."
    )
    trace.add_argument(
        "--backend-status", type=int, default=200, help="Sample backend status."
    )
    trace.add_argument("--backend-body", help="Sample backend body (JSON text).")
    trace.set_defaults(run=_policy_trace)


def _policy_trace(args: argparse.Namespace) -> int:
    from .policy.tracing import SAMPLE_BODY, SampleBackend, SampleRequest, trace

    config = load_config(args.config) if args.config else embedded_default()
    sample = SampleRequest(
        method=args.method.upper(),
        url=_absolute(args.url, config),
        headers=[_header(text) for text in args.header],
        body=_trace_body(args),
        caller_ip=args.caller_ip,
        subscription=args.subscription,
        product=args.product,
    )
    backend = SampleBackend(
        call=args.call_backend,
        status=args.backend_status,
        body=args.backend_body.encode() if args.backend_body else SAMPLE_BODY,
    )
    result = asyncio.run(trace(config, sample, backend, os.environ))
    _print_trace(result)
    return 0


def _absolute(url: str, config: GatewayConfig) -> str:
    if "://" in url:
        return url
    listener = config.listener
    return f"http://{listener.host}:{listener.port}/{url.lstrip('/')}"


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ConfigError(
            f"expected 'NAME: VALUE', got {text!r}",
            source="command line",
            path="--header",
        )
    return name.strip(), value.strip()


def _trace_body(args: argparse.Namespace) -> bytes:
    if args.body_file:
        return Path(args.body_file).read_bytes()
    return args.body.encode() if args.body is not None else b""


def _print_trace(result: Any) -> None:
    print(f"API {result.api or '-'}, operation {result.operation or '-'}")
    for step in result.steps:
        place = f"{step.scope}:{step.policy_id}"
        print(f"  {step.section:<9} {place:<56} {step.outcome}")
    for line in result.forwarded:
        print(f"forwarded: {line}")
    if result.error is not None:
        print(f"error: {result.error}")
    print(f"response: {result.status} {result.reason}".rstrip())
    for name, value in result.headers:
        print(f"{name}: {value}")
    if result.body:
        print()
        print(result.body.decode("utf-8", "replace"))


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
