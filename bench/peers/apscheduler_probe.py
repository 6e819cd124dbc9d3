"""APScheduler 3.x under batchd's probes (bench/run starts it; not a test).

precision:  N jobs every second; each job appends its lateness against the ideal grid
            (start + k seconds) in microseconds to OUT.
idle:       N hourly cron jobs at a minute far from now; nothing runs during the window.
scale:      the same with N = 10,000: what registering that many costs.
noop, true: N jobs due at one instant (date triggers), each appending its finish time to OUT
            (`true` runs /bin/true first): runs recorded per second.
"""
import asyncio
import datetime
import subprocess
import sys
import time

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler

kind, probe, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
start = float(int(time.time()) + 2)  # a whole second, two seconds ahead
sink = open(out, "a", buffering=1)


def record():
    now = time.time()
    ideal = start + round(now - start)
    sink.write(f"{int((now - ideal) * 1_000_000)}\n")


def finished():
    sink.write(f"{time.time()}\n")


def run_true():
    subprocess.run(["/bin/true"])
    finished()


def add_jobs(scheduler):
    at = datetime.datetime.fromtimestamp(start)
    for i in range(count):
        if probe == "precision":
            scheduler.add_job(record, "interval", seconds=1, id=f"j{i}", next_run_time=at)
        elif probe in ("noop", "true"):
            scheduler.add_job(finished if probe == "noop" else run_true, "date", run_date=at, id=f"t{i}",
                              misfire_grace_time=3600)
        else:
            minute = (datetime.datetime.now().minute + 30) % 60
            scheduler.add_job(record, "cron", minute=minute, id=f"h{i}")


executors = {"default": ThreadPoolExecutor(32)}
if kind == "background":
    scheduler = BackgroundScheduler(executors=executors)
    add_jobs(scheduler)
    scheduler.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)
else:
    async def main():
        scheduler = AsyncIOScheduler(executors=executors)
        add_jobs(scheduler)
        scheduler.start()
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
