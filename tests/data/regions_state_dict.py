# Makes tests/data/regions_state_dict.safetensors and prints the fixture points and outputs
# quoted in tests/regions_cli.rs. Run: python3 tests/data/regions_state_dict.py
import torch
from safetensors.torch import save_file
torch.manual_seed(5)
net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                          torch.nn.ReLU(), torch.nn.Linear(8, 1))
save_file({k: v.contiguous() for k, v in net.state_dict().items()},
          "tests/data/regions_state_dict.safetensors")
pts = torch.tensor([[-1.5, -1.0], [-0.3, 0.7], [0.2, -0.4], [1.1, 1.6], [1.9, -1.8], [0.05, 0.05]])
with torch.no_grad():
    y = net(pts)
for p, v in zip(pts.tolist(), y[:, 0].tolist()):
    print(f"    ([{p[0]!r}, {p[1]!r}], {v!r}),")
