"""Take-over time of the PostgreSQL failover: two ``fkbot run`` processes, N failures.

    .venv/bin/python bench/failover.py [--kills 10] [--commands 100] [--how kill|cut]
                                       [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

One throwaway Synapse on 127.0.0.1 (log level WARNING), one PostgreSQL schema of the
benchmark's own (dropped at the end), one caseworker (a real matrix-nio client) in an
encrypted room with the bot, and two ``fkbot run`` processes of one configuration:
one active, one standing by (bot/activelock.py).

During a burst of ``--commands`` pings (one every 0.1 s) the active process is killed
with kill -9 (``--how kill``) or its lock connection is terminated with
``pg_terminate_backend`` (``--how cut``) ``--kills`` times, evenly spread; the victim
is started again as a standby, as systemd would, and is standing by before the next
failure. A take-over is the time from the kill to the first reply the caseworker
receives to a command sent after the old process was gone. At the end every command's
replies are counted: ``lost`` commands have none, ``duplicated`` counts replies beyond
the first. Goal: take-over ≤ 10 s, 0 lost, 0 duplicated.

nio's crypto store, the login and the cross-signing keys come from the database
(PostgreSQL); the store directory the two processes share holds nothing they read.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.testing.botrun import prepare_bot
from bot.testing.failover import BotPair, burst_with_takeovers, summary
from bot.testing.peers import Participant
from bot.testing.synapse import SynapseServer
from storage.db import make_engine, upgrade

GOAL_SECONDS = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--how", choices=("kill", "cut"), default="kill")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "FKBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL (SQLAlchemy URL); a schema of its own is created and dropped",
    )
    parser.add_argument("--workdir", help="where the temporary directory goes")
    args = parser.parse_args(argv)
    if args.kills < 1 or args.commands < args.kills + 1:
        parser.error("--kills ≥ 1 and --commands > --kills, please")
    return args


async def run(args: argparse.Namespace, workdir: Path, db_url: str) -> int:
    with SynapseServer(workdir / "synapse", log_level="WARNING") as server:
        setup = prepare_bot(server, workdir / "bot", database_url=db_url)
        pair = BotPair(setup, db_url)
        user = server.register(f"fallmanager-{secrets.token_hex(3)}", displayname="cw")
        cw = Participant(server.base_url, user, workdir / "cw")
        pair.start()
        try:
            active, _ = await pair.active()
            for bot in pair.bots:
                if bot is not active:
                    await pair.standing_by(bot)
            await cw.start()
            room_id = await cw.create_encrypted_room("Fallkonferenz", [setup.user_id])
            await cw.wait_for_member(room_id, setup.user_id, 60)
            await cw.wait_reply(await cw.send(room_id, "!fk ping"), 60)  # warm-up
            result = await burst_with_takeovers(
                pair, cw, room_id, commands=args.commands, takeovers=args.kills, how=args.how
            )
        finally:
            pair.kill_all()
            await cw.stop()
    p50, worst = summary(result.takeovers)
    print(f"failover ({args.how}), {len(result.counts)} commands, {args.kills} take-overs")
    print("take-over s: " + " ".join(f"{t:.1f}" for t in result.takeovers))
    print(f"take-over p50 {p50:.1f} s, max {worst:.1f} s (goal ≤ {GOAL_SECONDS:.0f} s)")
    print(
        f"lost {result.lost}, duplicated {result.duplicated}, "
        f"undecryptable replies {result.undecrypted}"
    )
    ok = worst <= GOAL_SECONDS and result.lost == 0 and result.duplicated == 0
    print("goal met" if ok else "GOAL MISSED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("nio").setLevel(logging.ERROR)
    base = Path(args.workdir) if args.workdir else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="fkbot-failover-", dir=base))
    schema = f"bench_{secrets.token_hex(6)}"
    admin = create_engine(args.pg)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db_url = args.pg + ("&" if "?" in args.pg else "?") + f"options=-csearch_path%3D{schema}"
    try:
        engine = make_engine(db_url)
        upgrade(engine)
        engine.dispose()
        return asyncio.run(run(args, workdir, db_url))
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
