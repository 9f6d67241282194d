#!/usr/bin/env python3
"""A synthetic pod-arrival trace (the shared Alibaba CSV's columns, no
GPUs) for checking the capacity policies on a CPU and memory mix that
trace does not have: long-lived services created in groups, and batch
jobs arriving through the day. docs/simulate.md ("Arrival shapes beyond
the shared trace") reports the scores. Deterministic: seed 3.

    python3 docs/simulate/synthetic-arrivals.py OUTDIR
    tailor simulate --kind arrivals --trace OUTDIR/mixed.csv
"""
import math, os, random, sys

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)
random.seed(3)
DAYS = 10
END = DAYS * 86400
pods = []

# Services: groups of 2–10 identical replicas every ~2 h, living
# 1–5 days (some past the end), 250m–4 cores, 1–8 GiB a core.
t = 0.0
while t < END:
    t += random.expovariate(1 / 7200)
    cpu = random.choice([250, 500, 1000, 2000, 4000])
    mem = int(cpu / 1000 * random.choice([1024, 2048, 4096, 8192]))
    life = random.uniform(1, 5) * 86400
    for _ in range(random.randint(2, 10)):
        c = int(t + random.uniform(0, 30))
        pods.append((cpu, max(mem, 256), c, c + int(life) if c + life < END else None))

# Batch: Poisson, 40 an hour at the day's peak and 10 at night; lifetimes
# lognormal around 10 min; 1–16 cores, 2–4 GiB a core.
t = 0.0
while t < END:
    rate = 25 + 15 * math.sin(2 * math.pi * t / 86400)
    t += random.expovariate(rate / 3600)
    cpu = random.choice([1000, 2000, 4000, 8000, 16000])
    mem = int(cpu / 1000 * random.choice([2048, 4096]))
    life = random.lognormvariate(math.log(600), 1.0)
    pods.append((cpu, mem, int(t), int(t + life)))

pods.sort(key=lambda p: p[2])
with open(os.path.join(out, "mixed.csv"), "w") as o:
    o.write("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n")
    for i, (cpu, mem, c, d) in enumerate(pods):
        o.write("mixed-%05d,%d,%d,0,0,,LS,Running,%d,%s,%d\n" % (i, cpu, mem, c, "" if d is None else d, c))
