#!/usr/bin/env python
"""Score faces: ``python inference.py TEST SUB.csv MODEL.h5 SVM.pkl`` (same as ``dfembed infer``)."""

from dfembed.commands.infer import infer_command

if __name__ == "__main__":
    infer_command(prog_name="inference.py")
