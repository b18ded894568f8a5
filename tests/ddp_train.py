"""Run under torchrun by test_distributed.py: `paddy.learn.train.train` on every rank, then the ranks compare the weights
they ended with (DDP keeps them in step) and rank 0 writes to the JSON file argv[1] each rank's weight checksum, run
folder, learning rate, training batches against the batches of one process's epoch, and the graphs dynamo compiled.
A `compile_backend` key in the config JSON sets torch.compile's backend (the tests use dynamo's `eager`)."""
import json, sys
from pathlib import Path

import torch
import torch.distributed as dist

from paddy import runs
from paddy.config import make_config
from paddy.learn import distributed, train
from paddy.models import compiled

learners, make_learner = [], train.learner
train.learner = lambda *a, **kw: learners.append(make_learner(*a, **kw)) or learners[-1]  # keep hold of the Learner
cfg = json.loads(sys.argv[2])
compiled.BACKEND = cfg.pop("compile_backend", compiled.BACKEND)
folder = train.train(make_config(**cfg))
learn = learners[0]
weights = runs.load_tensors(folder / runs.WEIGHTS)[0]
mine = torch.tensor([sum(float(v.double().abs().sum()) for v in weights.values() if v.is_floating_point())], dtype=torch.float64)
sums = [torch.zeros(1, dtype=torch.float64) for _ in range(dist.get_world_size())]
dist.all_gather(sums, mine)
seen = [None] * dist.get_world_size()
dist.all_gather_object(seen, dict(folder=str(folder), lr=runs.load_meta(folder).lr, batches=learn.train_iter, epoch_batches=len(learn.dls.train), graphs=compiled.graphs()))
if dist.get_rank() == 0: Path(sys.argv[1]).write_text(json.dumps(dict(sums=[float(s) for s in sums], ranks=seen)))
distributed.close()
