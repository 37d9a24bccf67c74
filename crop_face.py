#!/usr/bin/env python
"""Crop faces with MTCNN: ``python crop_face.py SRC DST`` (same as ``dfembed crop``)."""

from dfembed.commands.crop import crop_command

if __name__ == "__main__":
    crop_command(prog_name="crop_face.py")
