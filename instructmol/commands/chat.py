"""Chat with an InstructMol model about a molecule in the terminal.

Type a question and the answer streams token by token. The conversation is kept, so follow-up questions see
the earlier turns. Commands: `/mol SMILES` switches to another molecule (and starts a new conversation),
`/mol` alone drops the molecule (plain text chat), `/reset` starts the conversation again, `/quit` (or
end of input) ends the session.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..arguments import positive_int
from ..errors import one_line
from ..loading import check_instructmol_folder, local_model_dir

if TYPE_CHECKING:
    from transformers import ProcessorMixin

    from ..engines import TransformersEngine
    from ..serving import InstructMolClient

HELP = "chat about a molecule in the terminal (/mol SMILES switches molecule, /reset, /quit)"
COMMANDS_HELP = "commands: /mol SMILES (switch molecule), /mol (no molecule), /reset, /quit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="folder or Hub id of an InstructMol model")
    parser.add_argument("--smiles", help="the molecule to talk about (SMILES); without it, a plain text chat")
    parser.add_argument("--max-new-tokens", type=positive_int, default=256, help="longest answer, in tokens")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 answers greedily")
    parser.add_argument("--server", metavar="URL", help="answer through the vLLM server of `instructmol serve --model` "
                        "on this model instead of loading its language model here")


@dataclass
class ChatSession:
    """A conversation with one model about at most one molecule.

    The molecule travels as a molecule block in the first user turn, where InstructMol was trained to see it.
    `engine` answers: the model in this process, or a vLLM server's client.
    """

    engine: TransformersEngine | InstructMolClient
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
        if self.processor.molecule_token in question:
            raise ValueError(f"the question holds {self.processor.molecule_token}, which stands for a molecule's atoms "
                             "in the model's input; give the molecule with /mol SMILES instead")
        content = [{"type": "text", "text": question}]
        if not self.messages and self.smiles is not None:
            content.insert(0, {"type": "molecule", "molecule": self.smiles})
        conversation = [*self.messages, {"role": "user", "content": content}]
        from ..engines import PieceStream

        answer, decoding = "", self.decoding()
        stream = PieceStream(self.engine.stream(conversation, decoding))
        for piece in stream:
            print(piece, end="", flush=True)
            answer += piece
        print(flush=True)
        if stream.cut:
            print(f"[cut at the limit of {decoding.max_new_tokens} new tokens; --max-new-tokens raises it]",
                  file=sys.stderr, flush=True)
        answer = answer.strip()
        self.messages = [*conversation, {"role": "assistant", "content": answer}]
        return answer

    def decoding(self):
        from ..engines import Decoding

        return Decoding(self.max_new_tokens, sample=self.temperature > 0, temperature=self.temperature)


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
    """The model of `args.model` (a folder or Hub id, loaded with its own code), or the client of the server of
    `args.server` running it."""
    from ..engines import TransformersEngine
    from ..loading import load_model_and_processor

    folder = check_instructmol_folder(local_model_dir(args.model))
    try:
        if args.server:
            from ..serving import InstructMolClient

            engine = InstructMolClient(args.server, str(folder))
        else:
            engine = TransformersEngine(*load_model_and_processor(str(folder)))
    except OSError as error:
        raise ValueError(f"cannot load an InstructMol model from {args.model!r}: {one_line(error)}") from error
    return ChatSession(engine, engine.processor, max_new_tokens=args.max_new_tokens, temperature=args.temperature)


def run(args: argparse.Namespace) -> None:
    if not (args.temperature >= 0 and math.isfinite(args.temperature)):  # nan fails both: refused, not greedy
        raise ValueError(f"--temperature must be a finite number, at least 0, got {args.temperature}")
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
