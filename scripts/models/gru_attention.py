"""GRU decoder with (Luong, general) attention over encoder outputs, run for a fixed number
of steps with teacher forcing.

``AttnDecoder(vocab_size=10000, hidden=512, steps=20)``; the forward takes the encoder
outputs (batch, src_len, hidden) and the target tokens (batch, steps) and returns the
per-step logits (batch, steps, vocab) and the attention weights (batch, steps, src_len).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.w = nn.Linear(hidden, hidden, bias=False)

    def forward(self, query, keys):
        # query: (B, H), keys: (B, S, H) -> weights (B, S), context (B, H)
        scores = torch.bmm(keys, self.w(query).unsqueeze(2)).squeeze(2)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
        return context, weights


class AttnDecoder(nn.Module):
    def __init__(self, vocab_size=10000, hidden=512, embed_dim=None, num_layers=1):
        super().__init__()
        embed_dim = embed_dim or hidden
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.gru = nn.GRU(embed_dim + hidden, hidden, num_layers=num_layers, batch_first=True)
        self.attention = Attention(hidden)
        self.out = nn.Linear(2 * hidden, vocab_size)

    def forward(self, encoder_outputs, targets):
        batch, steps = targets.shape
        hidden = encoder_outputs.mean(dim=1).unsqueeze(0).repeat(self.gru.num_layers, 1, 1)
        logits, attentions = [], []
        for t in range(steps):
            embedded = self.embedding(targets[:, t])                  # (B, E)
            context, weights = self.attention(hidden[-1], encoder_outputs)
            rnn_in = torch.cat([embedded, context], dim=-1).unsqueeze(1)
            output, hidden = self.gru(rnn_in, hidden)
            output = output.squeeze(1)
            logits.append(self.out(torch.tanh(torch.cat([output, context], dim=-1))))
            attentions.append(weights)
        return torch.stack(logits, dim=1), torch.stack(attentions, dim=1)
