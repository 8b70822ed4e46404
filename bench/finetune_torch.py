"""PyTorch CPU side of bench/finetune (run by dist/bench/finetune.js; /usr/bin/python3 with Debian's
python3-torch and python3-torchvision). Random init everywhere: no pretrained weights are needed or
downloaded.

  finetune_torch.py make DIR
      writes DIR/vgg16.pth and DIR/resnet18.pth (torchvision vgg16() / resnet18(), seed 0, state dicts)
  finetune_torch.py vgg-features  --batches K [--batch 32] [--threads 2]
      frozen prefix (features, avgpool, fc6, relu) under no_grad in eval mode: the cache fill
  finetune_torch.py vgg-train     --batches K [--batch 32] [--threads 2]
      the seed's naive step: whole VGG16 forward in train mode (dropout on), base frozen
      (requires_grad False), fc7 + a new Linear(4096, 2) head trained by Adam (head at 10x the rate)
  finetune_torch.py vgg-eval      --batches K
      validation pass of that model in eval mode under no_grad
  finetune_torch.py vgg-cached    --train 1400 --val 600 --epochs E
      the same training on cached 4096-d fc6 features: epochs of fc7+head training + validation
  finetune_torch.py resnet18-train --batches K [--batch 32] [--threads 2]
      full fine-tuning (nothing frozen, BatchNorm in train mode) of resnet18 with a 2-class fc, Adam

Each timed mode runs one warm-up batch first (not counted) and prints one JSON line: per-batch
seconds (wall and process CPU), images/s from the median batch, peak RSS. Inputs are random tensors already in memory
(no JPEG decoding), as graft's timed passes also run on decoded arrays.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def vgg16():
    import torchvision
    torch.manual_seed(0)
    return torchvision.models.vgg16()


def resnet18():
    import torchvision
    torch.manual_seed(0)
    return torchvision.models.resnet18()


class SeedVgg(nn.Module):
    """VGG16 up to fc7 (+ReLU, dropout: Chainer's 'fc7' features) and a new 2-class head."""

    def __init__(self):
        super().__init__()
        base = vgg16()
        self.features, self.avgpool = base.features, base.avgpool
        # classifier.0 fc6, .1 relu, .2 dropout, .3 fc7, .4 relu, .5 dropout
        self.prefix_fc = nn.Sequential(*list(base.classifier.children())[:2])
        self.drop6 = base.classifier[2]
        self.fc7 = nn.Sequential(base.classifier[3], base.classifier[4], base.classifier[5])
        self.head = nn.Linear(4096, 2)
        for p in list(self.features.parameters()) + list(self.prefix_fc.parameters()):
            p.requires_grad_(False)

    def prefix(self, x):
        return self.prefix_fc(torch.flatten(self.avgpool(self.features(x)), 1))

    def suffix(self, f):
        return self.head(self.fc7(self.drop6(f)))

    def forward(self, x):
        return self.suffix(self.prefix(x))


def seed_optimizer(model, lr=1e-4):
    return torch.optim.Adam([
        {"params": model.fc7.parameters(), "lr": lr},
        {"params": model.head.parameters(), "lr": lr * 10},
    ])


def timed(step, batches):
    step()  # warm-up: allocator, oneDNN primitive creation
    times, cpu = [], []
    for _ in range(batches):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu


def report(mode, batch, timings, **extra):
    times, cpu = timings
    median = statistics.median(times)
    print(json.dumps({"mode": mode, "batch": batch, "batchSeconds": times, "cpuSeconds": cpu, "imagesPerSecond": batch / median,
                      "maxRssBytes": peak_rss(), "threads": torch.get_num_threads(), "torch": torch.__version__, **extra}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode")
    parser.add_argument("dir", nargs="?")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", type=int, default=1400)
    parser.add_argument("--val", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    if args.mode == "make":
        torch.save(vgg16().state_dict(), f"{args.dir}/vgg16.pth")
        torch.save(resnet18().state_dict(), f"{args.dir}/resnet18.pth")
        print(json.dumps({"made": ["vgg16.pth", "resnet18.pth"], "torchvision": __import__("torchvision").__version__}))
        return

    n = args.batch
    if args.mode in ("vgg-features", "vgg-train", "vgg-eval"):
        model = SeedVgg()
        x = torch.rand(n, 3, 224, 224)
        y = torch.randint(0, 2, (n,))
        if args.mode == "vgg-features":
            model.eval()

            def step():
                with torch.no_grad():
                    model.prefix(x)
        elif args.mode == "vgg-eval":
            model.eval()

            def step():
                with torch.no_grad():
                    nn.functional.cross_entropy(model(x), y)
        else:
            model.train()
            opt = seed_optimizer(model)

            def step():
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
        report(args.mode, n, timed(step, args.batches))
        return

    if args.mode == "vgg-cached":
        model = SeedVgg()
        opt = seed_optimizer(model)
        train_f = torch.relu(torch.randn(args.train, 4096))
        train_y = torch.randint(0, 2, (args.train,))
        val_f = torch.relu(torch.randn(args.val, 4096))
        val_y = torch.randint(0, 2, (args.val,))
        epochs = []
        for _ in range(args.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            model.train()
            order = torch.randperm(args.train)
            for s in range(0, args.train, n):
                idx = order[s:s + n]
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model.suffix(train_f[idx]), train_y[idx])
                loss.backward()
                opt.step()
            t1 = time.perf_counter()
            model.eval()
            with torch.no_grad():
                for s in range(0, args.val, n):
                    nn.functional.cross_entropy(model.suffix(val_f[s:s + n]), val_y[s:s + n])
            t2 = time.perf_counter()
            epochs.append({"train": t1 - t0, "validation": t2 - t1, "cpu": time.process_time() - c0})
        print(json.dumps({"mode": args.mode, "batch": n, "train": args.train, "val": args.val, "epochs": epochs,
                          "epochSeconds": statistics.median(e["train"] + e["validation"] for e in epochs[1:] or epochs),
                          "epochCpuSeconds": statistics.median(e["cpu"] for e in epochs[1:] or epochs),
                          "maxRssBytes": peak_rss(), "threads": torch.get_num_threads()}))
        return

    if args.mode == "resnet18-train":
        model = resnet18()
        model.fc = nn.Linear(512, 2)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = torch.rand(n, 3, 224, 224)
        y = torch.randint(0, 2, (n,))

        def step():
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        report(args.mode, n, timed(step, args.batches))
        return

    sys.exit(f"unknown mode {args.mode}")


if __name__ == "__main__":
    main()
