"""Stand-in for deepspeed's import: like the real package's accelerator detection, importing it
asks torch whether CUDA is available, which fixes the device list of the process."""

import torch

CUDA_AT_IMPORT = torch.cuda.is_available()
