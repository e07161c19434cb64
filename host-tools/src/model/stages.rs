//! The dilation cycle of each stack: how many dilated layers run before the dilation starts
//! again at 1 (layer `i`, 0-based, has dilation `2^(i mod cycle)`; Magenta calls the cycle
//! `num_stages`). No variable's shape records it, so it is read from the stack's layer count
//! where that settles it, and a cycle the caller gives is checked against that count. It never
//! reads weights.
//!
//! The rule, for a stack of `L` dilated layers (`ae_dilatedconv_1 … L`, `dilatedconv_1 … L`):
//! * Layers come in whole cycles, as in every model made with Magenta's `h512_bo16` code (the
//!   released one: 30 = 3 × 10); so a cycle must divide `L`.
//! * `L` = 30 is the released model's stack: cycles of 10. Its checkpoint says nothing more, and
//!   10 is what Magenta trained it with, so 5, 6 or 15 (which divide 30 too) are refused.
//! * Any other `L` settles the cycle only when a single length divides it, i.e. `L` = 1. Every
//!   larger `L` is ambiguous (1 and `L` divide it, usually more: 6 → 1, 2, 3 or 6), and the
//!   caller must give the cycle; one that does not divide `L` is refused.

use std::fmt;

use super::error::ModelError;

/// Layers per dilation cycle in Magenta's released `h512_bo16` (dilations 1, 2, 4, …, 512).
const MAGENTA_STAGES: usize = 10;
/// Dilated layers of each stack of the released model.
const MAGENTA_LAYERS: usize = 30;

/// Layers per dilation cycle of the encoder and of the decoder, settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    pub encoder: usize,
    pub decoder: usize,
}

impl Stages {
    /// The released `h512_bo16` model's cycles.
    pub const MAGENTA: Stages = Stages {
        encoder: MAGENTA_STAGES,
        decoder: MAGENTA_STAGES,
    };
}

/// Layers per dilation cycle as the caller gives them (`--encoder-stages`, `--decoder-stages`):
/// `None` leaves a stack's cycle to its layer count (see the module's rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GivenStages {
    pub encoder: Option<usize>,
    pub decoder: Option<usize>,
}

/// Cycles known to the caller, e.g. a model built in a test, are given for both stacks and
/// still checked against the layer counts.
impl From<Stages> for GivenStages {
    fn from(stages: Stages) -> Self {
        Self {
            encoder: Some(stages.encoder),
            decoder: Some(stages.decoder),
        }
    }
}

impl GivenStages {
    /// The cycles of stacks with `encoder_layers` and `decoder_layers` dilated layers, or an
    /// error naming the stack, its layer count, and the given cycle or the cycles that fit.
    pub(super) fn settle(
        self,
        encoder_layers: usize,
        decoder_layers: usize,
    ) -> Result<Stages, ModelError> {
        Ok(Stages {
            encoder: StackLayers::new(Stack::Encoder, encoder_layers).cycle(self.encoder)?,
            decoder: StackLayers::new(Stack::Decoder, decoder_layers).cycle(self.decoder)?,
        })
    }
}

/// One of the model's two dilated stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Encoder,
    Decoder,
}

impl Stack {
    /// The name of its dilated convolutions before the layer number.
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Stack::Encoder => "ae_dilatedconv_",
            Stack::Decoder => "dilatedconv_",
        }
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Encoder => "encoder",
            Stack::Decoder => "decoder",
        })
    }
}

/// A stack's dilated layers, counted in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackLayers {
    pub stack: Stack,
    pub count: usize,
}

/// The cycle lengths a layer count allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fits {
    /// The released model's 30 layers: cycles of 10 only.
    Released,
    /// Any length that divides the count, ascending.
    WholeCycles(Vec<usize>),
}

impl Fits {
    fn cycles(&self) -> &[usize] {
        match self {
            Fits::Released => &[MAGENTA_STAGES],
            Fits::WholeCycles(cycles) => cycles,
        }
    }
}

impl StackLayers {
    fn new(stack: Stack, count: usize) -> Self {
        Self { stack, count }
    }

    /// The cycle lengths the count allows.
    pub fn fits(&self) -> Fits {
        let count = self.count;
        if count == MAGENTA_LAYERS {
            Fits::Released
        } else {
            Fits::WholeCycles(
                (1..=count)
                    .filter(|cycle| count.is_multiple_of(*cycle))
                    .collect(),
            )
        }
    }

    /// The cycle: `given` if the count allows it, else the only one the count allows.
    fn cycle(self, given: Option<usize>) -> Result<usize, ModelError> {
        let fits = self.fits();
        match (given, fits.cycles()) {
            (Some(0), _) => Err(ModelError::ZeroParameter { what: "stages" }),
            (Some(given), cycles) if cycles.contains(&given) => Ok(given),
            (Some(given), _) => Err(ModelError::StagesContradict {
                given,
                layers: self,
            }),
            (None, &[only]) => Ok(only),
            (None, _) => Err(ModelError::StagesAmbiguous { layers: self }),
        }
    }
}

/// "the encoder's 6 dilated layers (ae_dilatedconv_1/W … ae_dilatedconv_6/W)"
impl fmt::Display for StackLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (stack, count, prefix) = (self.stack, self.count, self.stack.prefix());
        write!(
            f,
            "the {stack}'s {count} dilated layers ({prefix}1/W … {prefix}{count}/W)"
        )
    }
}

/// "the released model's 3 cycles of 10" or "whole cycles of 1, 2, 3 or 6".
impl fmt::Display for Fits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fits::Released => write!(
                f,
                "the released model's {} cycles of {MAGENTA_STAGES}",
                MAGENTA_LAYERS / MAGENTA_STAGES
            ),
            Fits::WholeCycles(cycles) => {
                let mut words: Vec<String> = cycles.iter().map(ToString::to_string).collect();
                let last = words.pop().unwrap_or_default();
                if words.is_empty() {
                    write!(f, "whole cycles of {last}")
                } else {
                    write!(f, "whole cycles of {} or {last}", words.join(", "))
                }
            }
        }
    }
}
