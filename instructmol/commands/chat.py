"""Chat with an InstructMol model about a molecule in the terminal.

Type a question and the answer streams token by token. The conversation is kept, so follow-up questions see
the earlier turns. Commands: `/mol SMILES` switches to another molecule (and starts a new conversation),
`/mol` alone drops the molecule (plain text chat), `/reset` starts the conversation again, `/quit` (or
end of input) ends the session.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..arguments import positive_int
from ..errors import one_line
from ..loading import check_instructmol_folder, local_model_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel, ProcessorMixin

HELP = "chat about a molecule in the terminal (/mol SMILES switches molecule, /reset, /quit)"
COMMANDS_HELP = "commands: /mol SMILES (switch molecule), /mol (no molecule), /reset, /quit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="folder or Hub id of an InstructMol model")
    parser.add_argument("--smiles", help="the molecule to talk about (SMILES); without it, a plain text chat")
    parser.add_argument("--max-new-tokens", type=positive_int, default=256, help="longest answer, in tokens")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 answers greedily")


@dataclass
class ChatSession:
    """A conversation with one model about at most one molecule.

    The molecule travels as a molecule block in the first user turn, where InstructMol was trained to see it.
    """

    model: PreTrainedModel
    processor: ProcessorMixin
    max_new_tokens: int = 256
    temperature: float = 0.0
    smiles: str | None = None
    messages: list[dict] = field(default_factory=list)

    def set_molecule(self, smiles: str | None) -> None:
        """Talks about `smiles` from now on (None: no molecule), in a new conversation.

        Raises:
            ValueError: naming the SMILES when it cannot become a molecular graph; the session is unchanged.
        """
        if smiles is not None:
            self.processor.image_processor.featurize(smiles)  # raises the featurizer's error, which names the SMILES
        self.smiles = smiles
        self.reset()

    def reset(self) -> None:
        self.messages = []

    def ask(self, question: str) -> str:
        """Answers `question` in the conversation, streaming the answer to stdout; returns the answer.

        Raises:
            ValueError: the question holds the molecule placeholder, or something else the processor refuses; the
                conversation is unchanged.
        """
        import torch
        from transformers import TextStreamer

        if self.processor.molecule_token in question:
            raise ValueError(f"the question holds {self.processor.molecule_token}, which stands for a molecule's atoms "
                             "in the model's input; give the molecule with /mol SMILES instead")
        content = [{"type": "text", "text": question}]
        if not self.messages and self.smiles is not None:
            content.insert(0, {"type": "molecule", "molecule": self.smiles})
        conversation = [*self.messages, {"role": "user", "content": content}]
        inputs = self.processor.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        ).to(self.model.device)
        streamer = TextStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        with torch.inference_mode():
            generated = self.model.generate(**inputs, **self._generation_kwargs(), streamer=streamer)
        answer = self.processor.post_process_generation(generated.cpu(), inputs["input_ids"].shape[1])[0].strip()
        self.messages = [*conversation, {"role": "assistant", "content": answer}]
        return answer

    def _generation_kwargs(self) -> dict:
        kwargs = {
            "max_new_tokens": self.max_new_tokens,
            # A `<mol>` in the answer would have no graph behind it at the next step.
            "suppress_tokens": [self.processor.mol_token_id],
        }
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs


def switch_molecule(session: ChatSession, smiles: str | None) -> str:
    """Applies `/mol`; returns the line to show (a bad SMILES leaves the session as it was)."""
    try:
        session.set_molecule(smiles)
    except ValueError as error:
        still = f"still talking about {session.smiles}" if session.smiles else "no molecule selected"
        return f"Cannot use the SMILES {smiles!r} ({one_line(error)}); {still}."
    if smiles is None:
        return "No molecule: plain text chat (new conversation)."
    return f"Now talking about {smiles} (new conversation)."


def load_session(args: argparse.Namespace) -> ChatSession:
    """The model and processor of `args.model` (a folder or Hub id), loaded with their own code."""
    from transformers import AutoModel, AutoProcessor

    folder = check_instructmol_folder(local_model_dir(args.model))
    try:
        model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    except OSError as error:
        raise ValueError(f"cannot load an InstructMol model from {args.model!r}: {one_line(error)}") from error
    return ChatSession(model, processor, max_new_tokens=args.max_new_tokens, temperature=args.temperature)


def run(args: argparse.Namespace) -> None:
    if args.max_new_tokens < 1 or args.temperature < 0:
        raise ValueError(
            f"--max-new-tokens must be at least 1 and --temperature at least 0, got {args.max_new_tokens} and "
            f"{args.temperature}"
        )
    session = load_session(args)
    # Bytes that are not UTF-8 (a pasted binary, another encoding) become U+FFFD instead of ending the session.
    sys.stdin.reconfigure(errors="replace")
    print(f"InstructMol chat with {args.model}; {COMMANDS_HELP}.")
    print(switch_molecule(session, args.smiles), flush=True)
    while True:
        try:
            line = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not line:
            continue
        command, _, argument = line.partition(" ")
        if command == "/quit":
            return
        if command == "/reset":
            session.reset()
            print("New conversation.", flush=True)
        elif command == "/mol":
            print(switch_molecule(session, argument.strip() or None), flush=True)
        elif command.startswith("/"):
            print(f"Unknown command {command}; {COMMANDS_HELP}.", flush=True)
        else:
            try:
                session.ask(line)
            except KeyboardInterrupt:  # Ctrl-C stops a long answer, not the session; the turn is forgotten
                print("\n(answer interrupted)", flush=True)
            except ValueError as error:  # a question the processor refuses: say why and keep the session
                print(f"Cannot ask that: {one_line(error)}", flush=True)
