#!/usr/bin/env python
"""Train embeddings and the SVM: ``python train.py DATA OUT_H5 OUT_PKL`` (same as ``dfembed train``)."""

from dfembed.commands.train import train_command

if __name__ == "__main__":
    train_command(prog_name="train.py")
