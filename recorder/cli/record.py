"""rtrec record: the recording proxy, wired to the command line."""

from __future__ import annotations

import click

from recorder.access import check_exposure
from recorder.cli.app import run
from recorder.proxy import (
    DEFAULT_LISTEN,
    DEFAULT_UPSTREAM,
    ProxyConfig,
    check_upstream,
    env_api_key,
    parse_listen,
    record,
)
from recorder.store.cleanup import journal_removed_on_failure, removed_on_failure
from recorder.store.log import JOURNAL_NEEDS_POSTGRESQL
from recorder.store.urls import parse_db

FRAMES_LOST_EXIT = 3  # some frames passed but were not recorded (documented in the README)


# Each session's turn figures and transcript text, computed by one fold once its end is stored,
# in the recorder's one worker process (recorder.stats.worker, off the forwarding path), so
# `rtrec stats` reads them from the derived table and `rtrec view` searches without indexing
# first; with --otlp the same process encodes the session's trace from them.
SESSION_FIGURES = "recorder.view.ended:figures_and_text"


@click.command("record")
@click.option("--db", default="rtrec.db", show_default=True,
              help="SQLite file or PostgreSQL URL (postgresql://, postgres://) to record into.")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT",
              help="Where clients connect (port 0 picks a free one).")
@click.option("--upstream", default=DEFAULT_UPSTREAM, show_default=True, metavar="URL",
              help="The Realtime endpoint to forward to (Azure: wss://RESOURCE/openai/realtime).")
@click.option("--token", envvar="RTREC_TOKEN", default=None, metavar="SECRET",
              help="Required to listen beyond loopback or to serve web pages from other origins; "
                   "clients send it as header "
                   "X-Rtrec-Token or query rtrec_token. [env: RTREC_TOKEN]")
@click.option("--tls", is_flag=True,
              help="Serve wss:// with a certificate rtrec makes for localhost (for the JS SDK).")
@click.option("--verbose", "-v", is_flag=True, help="Show event types as they pass.")
@click.option("--buffer", "buffer_mib", type=click.IntRange(1, 65536), default=64,
              show_default=True, metavar="MIB",
              help="Memory for frames waiting for the store (MiB): what a store outage or a "
                   "slow disk can hold before frames are dropped into recorded gaps.")
@click.option("--journal", "journal", default=None, metavar="PATH",
              help="PostgreSQL --db only: a local file where frames go when the store is down "
                   "past --buffer; written into the store when it answers (or at the next start).")
@click.option("--journal-size", "journal_mib", type=click.IntRange(1, 2**20), default=1024,
              show_default=True, metavar="MIB",
              help="The most the --journal file holds (MiB); past it, frames are dropped into "
                   "recorded gaps.")
@click.option("--otlp", "otlp_url", default=None, metavar="URL",
              help="Send each session's OpenTelemetry trace to this OTLP/HTTP collector as the "
                   "session ends (http://HOST:4318, or the full traces URL); never slows "
                   "recording: traces not sent are counted in GET /rtrec/status.")
def record_command(
    db: str, listen: str, upstream: str, token: str | None, tls: bool, verbose: bool,
    buffer_mib: int, journal: str | None, journal_mib: int, otlp_url: str | None,
) -> None:
    """Record Realtime sessions: point the app's Realtime base URL at rtrec.

    Exits 0 when every frame was recorded, 3 when any frame passed but was not recorded
    (the store was down past --buffer: see the gaps in `rtrec sessions`), 1 on an error.
    """
    if journal is not None and parse_db(db).is_sqlite:
        raise click.UsageError(JOURNAL_NEEDS_POSTGRESQL)
    host, port = parse_listen(listen)
    check_exposure(host, token)
    check_upstream(upstream)
    server_ssl = None
    ca_file = None
    if tls:
        from recorder.tls import local_certificate

        certificate = local_certificate()
        server_ssl = certificate.server_context()
        ca_file = str(certificate.ca)
    config = ProxyConfig(
        upstream=upstream, host=host, port=port, token=token, api_key=env_api_key(),
        verbose=verbose, server_ssl=server_ssl,
    )
    traces = None
    if otlp_url is not None:
        from recorder.stats.otlp import otlp_target, proto_modules
        from recorder.stats.sender import TraceSender

        target = otlp_target(otlp_url)
        proto_modules()
        traces = TraceSender(target)  # sends what the figures worker process encodes
    # e.g. the port is taken: no new empty database (nor journal) stays behind
    with removed_on_failure(db), journal_removed_on_failure(journal):
        lost = run(record(db, config, ca_file=ca_file, buffer_bytes=buffer_mib * 2**20,
                          journal=journal, journal_bytes=journal_mib * 2**20,
                          figures=SESSION_FIGURES, traces=traces))
    if lost:
        raise SystemExit(FRAMES_LOST_EXIT)
