"""Text classifier: embedding, packed 2-layer bidirectional LSTM, last hidden states, linear.

``LSTMClassifier(vocab_size=20000, embed_dim=300, hidden=256, num_classes=5)``.
The input is a (batch, max_len) tensor of token ids where 0 is padding; lengths come
from the non-padding tokens (sequences are padded at the end).
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size=20000, embed_dim=300, hidden=256, num_classes=5,
                 num_layers=2, dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=dropout)
        self.fc = nn.Linear(2 * hidden, num_classes)

    def forward(self, tokens):
        lengths = (tokens != 0).sum(dim=1).clamp(min=1)
        embedded = self.embedding(tokens)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        packed_out, (h_n, c_n) = self.lstm(packed)
        out, _ = pad_packed_sequence(packed_out, batch_first=True)
        # the last layer's final forward and backward states
        hidden = torch.cat((h_n[-2], h_n[-1]), dim=1)
        return self.fc(hidden), out
