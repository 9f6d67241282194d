#!/usr/bin/env python3
"""Synthetic usage traces (the shared Bitbrains CSV's columns, gzip) for
checking the vertical policies on shapes that trace does not have.
docs/simulate.md ("Usage shapes beyond the shared trace") reports the
scores. Deterministic: one seed per shape.

    python3 docs/simulate/synthetic-usage.py OUTDIR
    tailor simulate --kind usage --trace OUTDIR/leak.csv.gz
"""
import gzip, math, os, random, sys

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)
T0, STEP, DAYS, N = 1372629600, 300, 30, 20
GiB = 1 << 30


def write(name, seed, shape):
    random.seed(seed)
    with gzip.open(os.path.join(out, name + ".csv.gz"), "wt") as o:
        o.write("vm,unix_s,cpu_cores,cpu_used_cores,mem_provisioned_bytes,mem_used_bytes\n")
        for vm in range(1, N + 1):
            f = shape()
            for i in range(DAYS * 86400 // STEP):
                t = i * STEP
                cpu, mem = f(t)
                o.write("%d,%d,4,%.4f,%d,%d\n" % (vm, T0 + t, max(cpu, 0.001), 8 * GiB, max(int(mem), 1 << 20)))


def day(t, phase=0.0):
    return math.sin(2 * math.pi * (t / 86400 + phase))


def steady():
    c, m = random.uniform(0.1, 2), random.uniform(0.2, 4) * GiB
    return lambda t: (c * random.lognormvariate(0, 0.2), m * random.uniform(0.97, 1.03))


def diurnal():
    c, m, ph = random.uniform(0.1, 2), random.uniform(0.2, 4) * GiB, random.random()
    return lambda t: (c * (1 + 0.7 * day(t, ph)) * random.lognormvariate(0, 0.15),
                      m * (1 + 0.4 * day(t, ph)) * random.uniform(0.98, 1.02))


def leak():
    # Memory grows by 20–100 % a day until a restart every 2–5 days.
    c, m = random.uniform(0.1, 2), random.uniform(0.2, 2) * GiB
    rate, period = random.uniform(0.2, 1.0), random.randint(2, 5) * 86400
    return lambda t: (c * random.lognormvariate(0, 0.2), m * (1 + rate * (t % period) / 86400) * random.uniform(0.99, 1.01))


def shift():
    # The level doubles (or halves) on a random day: a new release.
    c, m, at = random.uniform(0.1, 2), random.uniform(0.2, 4) * GiB, random.randint(5, 25) * 86400 + random.randint(0, 86399)
    k = random.choice([0.5, 2.0])
    return lambda t: ((c * (k if t >= at else 1)) * random.lognormvariate(0, 0.2),
                      (m * (k if t >= at else 1)) * random.uniform(0.97, 1.03))


def bursty():
    # A quiet level and bursts of 3–10 × for 5–60 min a few times a day.
    c, m = random.uniform(0.05, 1), random.uniform(0.2, 2) * GiB
    st = {"until": -1, "k": 1.0}

    def f(t):
        if t >= st["until"]:
            if st["k"] == 1.0 and random.random() < 1 / 72:
                st["k"], st["until"] = random.uniform(3, 10), t + random.randint(1, 12) * STEP
            else:
                st["k"], st["until"] = 1.0, t + STEP
        return c * st["k"] * random.lognormvariate(0, 0.2), m * (1 + 0.3 * (st["k"] > 1)) * random.uniform(0.98, 1.02)

    return f


for seed, (name, shape) in enumerate([("steady", steady), ("diurnal", diurnal), ("leak", leak), ("shift", shift), ("bursty", bursty)]):
    write(name, seed + 1, shape)
